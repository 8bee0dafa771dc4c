//! Record processors: the Lambda transformation contract, KPL de-aggregation, delimiters.
