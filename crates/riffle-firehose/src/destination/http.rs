//! The HTTP endpoint destination (the Firehose HTTP delivery contract).
