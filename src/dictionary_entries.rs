//! Which batches add entries to a column chunk's dictionary.
//!
//! Why: parquet 60.1's dictionary of fixed-length byte-array values (wide
//! decimals, `FixedSizeBinary`, `Float16`, intervals) holds each entry as
//! a slice of the buffer the values of the batch that added it were
//! copied into, so each such batch keeps its whole buffer until the
//! dictionary page is written ([`crate::metadata`]). A batch that adds no
//! entry keeps nothing. The meter cannot see parquet's dictionary, so it
//! keeps its own set of the values admitted into a leaf's open chunk,
//! while that set is small beside the buffers it spares (a quarter of the
//! leaf's largest batch buffer), and charges the set itself. Charged every
//! batch's buffer, 16 columns of 1,000 values over and over were stopped
//! at 64 MiB with 18.8 MiB of heap (`tests/budget_memory.rs`, `few`).
//!
//! Only leaves that are top-level columns of their own are looked at
//! ([`flat_leaves`]): below a list or a struct with nulls the values an
//! array holds are not all written, and a value counted as an entry that
//! parquet never saw would spare a later batch that adds it.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

/// By leaf index (parquet's order), the array of each leaf that is a
/// top-level column of its own: not nested, nor a run array (a
/// dictionary of values that are not nested is one). `None` for the
/// others.
pub(crate) fn flat_leaves(batch: &RecordBatch) -> Vec<Option<&ArrayRef>> {
    let mut leaves = Vec::with_capacity(batch.num_columns());
    for column in batch.columns() {
        let flat = match column.data_type() {
            DataType::Dictionary(_, values) => !values.is_nested(),
            DataType::RunEndEncoded(..) => false,
            other => !other.is_nested(),
        };
        match flat {
            true => leaves.push(Some(column)),
            false => {
                let n = crate::plan::leaf_count(column.data_type());
                leaves.extend(std::iter::repeat_n(None, n));
            }
        }
    }
    leaves
}

/// The values admitted into one leaf's open chunk, as keys: a value of up
/// to 16 bytes is its own key, a longer one a 128-bit hash of it (a
/// collision would take a new value for an entry, with odds of about one
/// in 2^100 for the set's few thousand values).
#[derive(Debug, Clone)]
pub(crate) struct Entries {
    /// `None` once they were too many to keep a set of: every batch adds
    /// entries, as far as the meter knows, until the chunk closes.
    seen: Option<HashSet<u128>>,
}

impl Default for Entries {
    fn default() -> Self {
        Self {
            seen: Some(HashSet::new()),
        }
    }
}

/// How to take back what [`Entries::add`] did.
#[derive(Debug)]
pub(crate) enum Undo {
    Nothing,
    /// The keys it inserted, and the set's capacity before (given back:
    /// the set's heap is charged as it was).
    Remove(Vec<u128>, usize),
    /// The set as it was, before it grew too large and was let go.
    Restore(HashSet<u128>),
}

impl Entries {
    /// Heap the set takes.
    pub(crate) fn bytes(&self) -> usize {
        self.seen
            .as_ref()
            .map_or(0, |seen| set_bytes(seen.capacity()))
    }

    /// Add the values `array` writes (its values not null; a dictionary's
    /// through its keys): whether any was not there before. Where the set
    /// would grow past `cap` bytes it is let go, and the batch adds
    /// entries. An array of a type this cannot read adds entries too.
    pub(crate) fn add(&mut self, array: &dyn Array, cap: usize) -> (bool, Undo) {
        let Some(seen) = self.seen.as_mut() else {
            return (true, Undo::Nothing);
        };
        let capacity = seen.capacity();
        let mut inserted = Vec::new();
        let mut full = false;
        let read = each_key(array, |key| {
            if seen.contains(&key) {
                return true;
            }
            if seen.len() == seen.capacity() && set_bytes(seen.len() + 1) > cap {
                full = true;
                return false;
            }
            seen.insert(key);
            inserted.push(key);
            true
        });
        if !read || full {
            remove(seen, &inserted, capacity);
        }
        if !read {
            return (true, Undo::Nothing);
        }
        if full {
            let before = self.seen.take().unwrap_or_default();
            return (true, Undo::Restore(before));
        }
        let adds = !inserted.is_empty();
        (adds, Undo::Remove(inserted, capacity))
    }

    /// Take back an [`add`](Self::add).
    pub(crate) fn undo(&mut self, undo: Undo) {
        match (undo, self.seen.as_mut()) {
            (Undo::Nothing, _) => {}
            (Undo::Remove(keys, capacity), Some(seen)) => remove(seen, &keys, capacity),
            (Undo::Remove(..), None) => {}
            (Undo::Restore(before), _) => self.seen = Some(before),
        }
    }
}

/// Take `keys` out of `seen`, and its room back to `capacity`.
fn remove(seen: &mut HashSet<u128>, keys: &[u128], capacity: usize) {
    for key in keys {
        seen.remove(key);
    }
    seen.shrink_to(capacity);
}

/// What a set of `u128` with room for `capacity` keys takes: a slot of 16
/// bytes and a control byte a bucket, buckets a power of two at most 7/8
/// full (std's `HashSet`), and a group of control bytes more.
fn set_bytes(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        n => {
            let buckets = n.saturating_mul(8).div_ceil(7).next_power_of_two().max(4);
            buckets.saturating_mul(17).saturating_add(16)
        }
    }
}

/// Call `f` with the key of each value `array` writes, in order, while it
/// returns true; false where the array's type is not one of fixed-length
/// values this reads.
fn each_key(array: &dyn Array, mut f: impl FnMut(u128) -> bool) -> bool {
    if let DataType::Dictionary(_, _) = array.data_type() {
        let Some(dictionary) = array.as_any_dictionary_opt() else {
            return false;
        };
        let values = dictionary.values();
        let Some(key) = reader(values.as_ref()) else {
            return false;
        };
        // In slices, so the keys made `usize` take little room.
        const SLICE: usize = 1024;
        let keys = dictionary.keys();
        for start in (0..array.len()).step_by(SLICE) {
            let len = SLICE.min(array.len() - start);
            let slice = array.slice(start, len);
            let Some(slice) = slice.as_any_dictionary_opt() else {
                return false;
            };
            for (i, value) in slice.normalized_keys().into_iter().enumerate() {
                if keys.is_null(start + i) || values.is_null(value) {
                    continue;
                }
                if !f(key(value)) {
                    return true;
                }
            }
        }
        return true;
    }
    let Some(key) = reader(array) else {
        return false;
    };
    for i in (0..array.len()).filter(|&i| !array.is_null(i)) {
        if !f(key(i)) {
            break;
        }
    }
    true
}

/// The key of value `i` of a fixed-width array, read from its data
/// buffer; `None` for other arrays.
fn reader(array: &dyn Array) -> Option<impl Fn(usize) -> u128 + '_> {
    let width = match array.data_type() {
        DataType::FixedSizeBinary(w) => usize::try_from(*w).ok()?,
        other if other.is_primitive() => other.primitive_width()?,
        _ => return None,
    };
    let data = array.to_data();
    let buffer = data.buffers().first()?.clone();
    let offset = data.offset();
    Some(move |i: usize| {
        let start = (offset + i) * width;
        let value = buffer.get(start..start + width).unwrap_or_default();
        key(value)
    })
}

/// A value's key: itself, where it is up to 16 bytes long, else two
/// 64-bit hashes of it.
fn key(value: &[u8]) -> u128 {
    if value.len() <= 16 {
        let mut bytes = [0u8; 16];
        bytes[..value.len()].copy_from_slice(value);
        return u128::from_le_bytes(bytes);
    }
    let half = |seed: u8| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut hasher);
        value.hash(&mut hasher);
        u128::from(hasher.finish())
    };
    half(0) << 64 | half(1)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{DictionaryArray, FixedSizeBinaryArray, Int32Array, StringArray};
    use arrow_schema::{Field, Fields};

    use super::*;

    fn fsb(values: impl IntoIterator<Item = Option<u32>>) -> ArrayRef {
        let bytes = values.into_iter().map(|v| v.map(|v| v.to_le_bytes()));
        Arc::new(FixedSizeBinaryArray::try_from_sparse_iter_with_size(bytes, 4).unwrap())
    }

    #[test]
    fn a_batch_of_values_seen_before_adds_no_entry() {
        let mut entries = Entries::default();
        let a = fsb([Some(1), Some(2), Some(1)]);
        assert!(entries.add(a.as_ref(), usize::MAX).0);
        assert!(!entries.add(a.as_ref(), usize::MAX).0, "all seen");
        // A slice is read from its offset.
        assert!(!entries.add(a.slice(1, 2).as_ref(), usize::MAX).0);
        // Nulls are not entries.
        assert!(!entries.add(fsb([None, Some(2)]).as_ref(), usize::MAX).0);
        let (adds, undo) = entries.add(fsb([Some(2), Some(3)]).as_ref(), usize::MAX);
        assert!(adds, "3 is new");
        // Refused after all: 3 was never written, and the set's heap is
        // what it was.
        let bytes = entries.bytes();
        entries.undo(undo);
        assert!(entries.bytes() <= bytes);
        assert!(entries.add(fsb([Some(3)]).as_ref(), usize::MAX).0);
    }

    #[test]
    fn a_dictionarys_values_are_read_through_its_keys() {
        let mut entries = Entries::default();
        let values = fsb([Some(7), Some(8), Some(9)]);
        let keys = Int32Array::from(vec![Some(0), None, Some(0)]);
        let keyed: ArrayRef = Arc::new(DictionaryArray::new(keys, values.clone()));
        assert!(entries.add(keyed.as_ref(), usize::MAX).0);
        // 8 and 9 are in its values but no key uses them.
        assert!(entries.add(fsb([Some(8)]).as_ref(), usize::MAX).0);
        assert!(!entries.add(fsb([Some(7), Some(8)]).as_ref(), usize::MAX).0);
        assert!(entries.add(fsb([Some(9)]).as_ref(), usize::MAX).0);
    }

    #[test]
    fn a_set_that_would_pass_its_cap_is_let_go() {
        let mut entries = Entries::default();
        let many = fsb((0..1000).map(Some));
        let (adds, undo) = entries.add(many.as_ref(), 4096);
        assert!(adds);
        assert_eq!(entries.bytes(), 0, "let go");
        // From then on, every batch adds entries.
        assert!(entries.add(fsb([Some(1)]).as_ref(), usize::MAX).0);
        entries.undo(undo);
        assert!(entries.add(fsb([Some(1)]).as_ref(), usize::MAX).0);
        assert!(
            !entries.add(fsb([Some(1)]).as_ref(), usize::MAX).0,
            "tracked again"
        );
        // Within its cap it keeps them, and says what it takes.
        let mut entries = Entries::default();
        assert!(entries.add(many.as_ref(), usize::MAX).0);
        assert!(!entries.add(many.as_ref(), usize::MAX).0);
        let bytes = entries.bytes();
        assert!((1000 * 17..=2048 * 17 + 16).contains(&bytes), "{bytes}");
        // A batch refused after all gives back the room its values took.
        let more = fsb((1000..5000).map(Some));
        let (adds, undo) = entries.add(more.as_ref(), usize::MAX);
        assert!(adds && entries.bytes() > bytes);
        entries.undo(undo);
        assert_eq!(entries.bytes(), bytes);
        assert!(!entries.add(many.as_ref(), usize::MAX).0);
    }

    #[test]
    fn long_values_are_keyed_by_their_hash_and_other_types_add_entries() {
        let mut entries = Entries::default();
        let long = |v: u8| -> ArrayRef {
            Arc::new(FixedSizeBinaryArray::try_from_iter(std::iter::once([v; 40])).unwrap())
        };
        assert!(entries.add(long(1).as_ref(), usize::MAX).0);
        assert!(!entries.add(long(1).as_ref(), usize::MAX).0);
        assert!(entries.add(long(2).as_ref(), usize::MAX).0);
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        assert!(entries.add(strings.as_ref(), usize::MAX).0);
        assert!(entries.add(strings.as_ref(), usize::MAX).0, "never seen");
    }

    #[test]
    fn only_top_level_leaves_of_their_own_are_flat() {
        let int: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        let pair = Fields::from(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Int32, true),
        ]);
        let strukt: ArrayRef = Arc::new(arrow_array::StructArray::new(
            pair,
            vec![int.clone(), int.clone()],
            None,
        ));
        let batch =
            RecordBatch::try_from_iter([("s", strukt), ("i", int.clone()), ("f", fsb([Some(1)]))])
                .unwrap();
        let flat = flat_leaves(&batch);
        assert_eq!(flat.len(), 4);
        assert!(flat[0].is_none() && flat[1].is_none());
        assert!(flat[2].is_some() && flat[3].is_some());
    }
}
