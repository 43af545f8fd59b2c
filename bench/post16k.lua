-- wrk script for compare.py --scenario post16k: 16 KiB POST uploads.
wrk.method = "POST"
wrk.body = string.rep("x", 16384)
wrk.headers["Content-Type"] = "application/octet-stream"
