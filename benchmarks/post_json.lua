-- wrk script: POST the JSON body in $BENCH_BODY; at the end print one JSON line of figures.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "mean_us": %.1f, "p50_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency.mean, latency:percentile(50),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
