//! Embedding vectors: unit length, stored as little-endian `f32` BLOBs, compared by dot product
//! (the cosine, since both sides are normalised).

/// `values` scaled to unit length; `None` for an empty, zero or non-finite vector.
pub fn normalised(values: &[f32]) -> Option<Vec<f32>> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let norm = values
        .iter()
        .map(|v| f64::from(*v) * f64::from(*v))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 {
        return None;
    }
    Some(
        values
            .iter()
            .map(|v| (f64::from(*v) / norm) as f32)
            .collect(),
    )
}

/// The BLOB of a vector.
pub fn to_blob(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The dot product of `query` with the vector stored in `blob`; `None` when the lengths differ
/// (a vector of another model or a damaged row).
pub fn dot_with_blob(query: &[f32], blob: &[u8]) -> Option<f64> {
    if blob.len() != query.len() * 4 {
        return None;
    }
    let mut sum = 0.0f32;
    for (q, bytes) in query.iter().zip(blob.chunks_exact(4)) {
        let stored = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        sum += q * stored;
    }
    Some(f64::from(sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_vectors_compare_by_cosine() {
        let a = normalised(&[3.0, 4.0]).expect("unit");
        assert!((a[0] - 0.6).abs() < 1e-6 && (a[1] - 0.8).abs() < 1e-6);
        let same = dot_with_blob(&a, &to_blob(&a)).expect("same length");
        assert!((same - 1.0).abs() < 1e-6);
        let b = normalised(&[-4.0, 3.0]).expect("unit");
        assert!(dot_with_blob(&a, &to_blob(&b)).expect("len").abs() < 1e-6);
        assert_eq!(dot_with_blob(&a, &to_blob(&[1.0])), None);
        assert_eq!(normalised(&[0.0, 0.0]), None);
        assert_eq!(normalised(&[f32::NAN]), None);
        assert_eq!(normalised(&[]), None);
    }
}
