//! Sources other than Direct PUT: a Riffle stream read from LATEST at creation.
