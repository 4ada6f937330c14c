# The hub image: built with the Swift toolchain, run on the slim runtime image.
FROM swift:6.2-bookworm AS build
WORKDIR /src
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
COPY Benchmarks ./Benchmarks
RUN swift build -c release --product rollcall --static-swift-stdlib \
 && mkdir /out \
 && cp "$(swift build -c release --show-bin-path)/rollcall" /out/ \
 && cp -R "$(swift build -c release --show-bin-path)/rollcall_RollCallPostgres.resources" /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libcurl4 libxml2 tzdata postgresql-client curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app rollcall
WORKDIR /app
# The migrations ship in the resource bundle beside the binary (the files the hub serves are
# compiled into it).
COPY --from=build /out/ /app/
USER rollcall
EXPOSE 8080
ENTRYPOINT ["/app/rollcall"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
