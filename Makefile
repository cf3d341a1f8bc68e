# Conveniences; CI runs .ci/run.
.PHONY: build test bench fuzz

build:
	CGO_ENABLED=0 go build -o posd ./cmd/posd

test:
	go test -race ./...

# Go benchmarks: fan-out, connection memory, order creation through HTTP and
# through the store alone, both protocols' encode paths and the loopback
# write() floor.
bench:
	go test -run XXX -bench . -benchtime 2s ./internal/hub ./internal/server ./internal/protocol/... ./internal/bench ./store/...

fuzz:
	.ci/fuzz.sh
