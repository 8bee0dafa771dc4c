//! Stored configuration → DescribeDeliveryStream description.
