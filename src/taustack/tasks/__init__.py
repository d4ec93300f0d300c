"""Generated tau2 tasks (mock domain): the generator, task files registered with tau2, oracle episodes."""
