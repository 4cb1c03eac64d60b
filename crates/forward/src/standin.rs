//! TEMPORARY stand-in for H1's `signal_core::Item` / `signal_core::Merge` (issue 12 plan,
//! "Interfaces"), so [`crate::Job::from_item`] exists before the mapping yields items. At the
//! merge: delete this file and make `Job::from_item` take `&signal_core::Item<'_>`.

/// One mapped item (the plan's fields).
#[derive(Debug, Clone)]
pub struct Item<'m> {
    /// Index into the blueprint's `requests` (= into the targets).
    pub request: usize,
    /// The item's JSON.
    pub body: &'m [u8],
    /// When the request's batch has `merge_by`.
    pub merge: Option<Merge<'m>>,
    /// The item's value at the batch's `hold_by`.
    pub hold: Option<&'m str>,
}

/// An item that merges by id.
#[derive(Debug, Clone)]
pub struct Merge<'m> {
    /// The id.
    pub id: &'m str,
    /// (key JSON, value JSON) of the `merge_into` object.
    pub pairs: Vec<(&'m [u8], &'m [u8])>,
}

impl<'m> Merge<'m> {
    /// (key JSON, value JSON) of the `merge_into` object.
    pub fn fields(&self) -> impl Iterator<Item = (&'m [u8], &'m [u8])> + '_ {
        self.pairs.iter().copied()
    }
}
