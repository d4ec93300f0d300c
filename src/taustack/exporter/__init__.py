"""`taustack exporter`: Prometheus metrics for engines that export none (Ollama) and for every replica."""
