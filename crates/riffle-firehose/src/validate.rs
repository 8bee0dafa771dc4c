//! AWS validation rules of CreateDeliveryStream and UpdateDestination beyond the schema.
