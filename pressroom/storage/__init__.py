"""Storage: the `Store` protocol every backend implements (a local directory, S3-compatible
buckets), and the claim-check work store where a job's intermediate data lives between steps
(`_work/{jobId}/`)."""
