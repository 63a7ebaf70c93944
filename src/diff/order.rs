//! Stage `diff`: a helper both list diffs share to tell moved items from
//! items that kept their order. Pure, no I/O, never panics.

/// Marks the members of one longest strictly increasing subsequence.
///
/// O(n log n) patience method; `ranks` are distinct, so strict and
/// non-strict coincide. Every index below is `< ranks.len()` by
/// construction (`tails` and `prev` only ever hold indices of `ranks`).
pub fn longest_increasing(ranks: &[usize]) -> Vec<bool> {
    // tails[k]: index into `ranks` of the smallest tail of a run of length k+1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; ranks.len()];
    for (i, &r) in ranks.iter().enumerate() {
        let k = tails.partition_point(|&t| ranks.get(t).is_some_and(|&tr| tr < r));
        prev[i] = k.checked_sub(1).and_then(|p| tails.get(p).copied());
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut keep = vec![false; ranks.len()];
    let mut at = tails.last().copied();
    while let Some(i) = at {
        keep[i] = true;
        at = prev[i];
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::longest_increasing;

    #[test]
    fn keeps_one_longest_run() {
        assert_eq!(longest_increasing(&[]), Vec::<bool>::new());
        assert_eq!(longest_increasing(&[0, 1, 2]), [true, true, true]);
        // Moving the last item to the front: only that item is out of order.
        assert_eq!(longest_increasing(&[3, 0, 1, 2]), [false, true, true, true]);
        assert_eq!(
            longest_increasing(&[2, 1, 0])
                .iter()
                .filter(|k| **k)
                .count(),
            1
        );
    }
}
