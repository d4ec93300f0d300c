FROM taustack/base:bookworm
CMD ["python3"]
