"""One engine for every job run on Replicate (trainings, generations): `engine.UpstreamJobs`
does what they share; each feature supplies a `kind.JobKind` with what differs."""
