package sample

// HostCommand is the hidden graylane subcommand of a sample host: one
// process that serves many replicas of the sample app for the embedded
// runtime (see RunHost), `graylane internal-sample-host` with its control
// socket as file descriptor 3.
const HostCommand = "internal-sample-host"
