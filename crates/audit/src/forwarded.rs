//! Columns that travel with a chained row to the line's central record without being part
//! of the hash chain: facts a station records after the chain was defined (what the write
//! did to each region) that quality still wants to see centrally, as on the station.
//!
//! They are read with the chained values ([`crate::verify::ChainRow::forwarded`], in this
//! order), inserted beside them centrally, and never hashed: changing one centrally does
//! not break a chain, which is why only descriptive columns belong here.

/// The unhashed columns forwarded with each chained row, in the order of
/// [`crate::verify::ChainRow::forwarded`].
pub const FORWARDED_COLUMNS: [&str; 1] = ["region_summary"];
