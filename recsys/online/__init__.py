"""Online state of a served version: users' profiles re-computed from their history plus events ingested
since the build, with the same feature functions the build uses."""
