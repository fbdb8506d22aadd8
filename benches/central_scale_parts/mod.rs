//! Parts of the `central_scale` benchmark: a station process, the line view's first paint.

pub mod paint;
pub mod station;
