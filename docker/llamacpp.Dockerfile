# The llama.cpp engine, built here so it runs where no registry is reachable.
#
# One compile of llama.cpp (the sources vendored in the pinned llama-cpp-python release) gives:
#   llama-server                    the native server: parallel slots, per-slot prompt cache, /metrics, --jinja tools
#   python3 -m llama_cpp.server     llama-cpp-python's server on the same libraries (grammar-forced tool_choice)
# The build is portable (GGML_NATIVE=OFF: no -march=native), and Docker's layer cache keeps the compiled
# result between builds: only a change of requirements/llamacpp-sdist.txt or BASE_IMAGE compiles again (~5-10 min,
# 2 cores). Versions: requirements/llamacpp.in. The sdist is downloaded hash-checked (llamacpp-sdist.txt); its
# runtime deps and its build backend (scikit-build-core) come hash-checked from llamacpp.txt, and the package is
# then built with --no-build-isolation (an isolated build would fetch its backend unpinned) and --no-deps.
#
#   docker build -f docker/llamacpp.Dockerfile -t taustack/llamacpp:0.3.36 .
ARG BASE_IMAGE=taustack/python:bookworm

FROM ${BASE_IMAGE} AS build
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends build-essential cmake git python3-dev >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY requirements/llamacpp-sdist.txt /tmp/requirements/
RUN pip download -q --no-deps --no-binary :all: --require-hashes -r /tmp/requirements/llamacpp-sdist.txt -d /src \
 && tar -xzf /src/llama_cpp_python-*.tar.gz -C /src && rm /src/*.tar.gz && mv /src/llama_cpp_python-* /src/llama-cpp-python
RUN cmake -S /src/llama-cpp-python/vendor/llama.cpp -B /build -DCMAKE_BUILD_TYPE=Release \
      -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
      -DCMAKE_INSTALL_RPATH=/opt/llama/lib >/dev/null \
 && cmake --build /build --target llama-server -j"$(nproc)" \
 && mkdir -p /opt/llama/bin /opt/llama/lib \
 && cp /build/bin/llama-server /opt/llama/bin/ \
 && cp -a /build/bin/*.so* /opt/llama/lib/
# the Python package without its own compile: it loads the libraries built above
COPY requirements/llamacpp.txt /tmp/requirements/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --require-hashes --only-binary :all: -r /tmp/requirements/llamacpp.txt \
 && CMAKE_ARGS="-DLLAMA_BUILD=OFF" /opt/venv/bin/pip install -q --no-deps --no-build-isolation /src/llama-cpp-python \
 && /opt/venv/bin/pip check && rm -rf /root/.cache

FROM ${BASE_IMAGE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libgomp1 curl >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/llama /opt/llama
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/llama/bin:/opt/venv/bin:$PATH \
    LD_LIBRARY_PATH=/opt/llama/lib \
    LLAMA_CPP_LIB_PATH=/opt/llama/lib \
    MTMD_CPP_LIB=/opt/llama/lib
RUN llama-server --version && python3 -c "import llama_cpp, llama_cpp.server.app; print('llama-cpp-python', llama_cpp.__version__)"
EXPOSE 8080
ENTRYPOINT ["llama-server"]
CMD ["--help"]
