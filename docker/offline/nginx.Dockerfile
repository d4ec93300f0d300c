# nginx from Debian, a stand-in for the official nginx image where no registry is reachable.
FROM taustack/base:bookworm
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
