-- wrk script: POST one iris row to /v2/models/iris/infer (Open Inference Protocol, JSON tensor);
-- at the end print one JSON line of figures (the same line as post_predict.lua).
wrk.method = "POST"
wrk.body = '{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", '
  .. '"data": [6.5, 3.2, 5.1, 2.0]}]}'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "mean_us": %.1f, "p50_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency.mean, latency:percentile(50),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
