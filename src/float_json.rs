//! Float32 values in JSON as their shortest decimal.
//!
//! Why: TMK+PDQF scores and thresholds are float32. Written through a
//! `serde_json::Value` (as the service and `match` build their output) a
//! float32 is widened to f64 and prints as `0.800000011920929`; written
//! straight to a string it prints `0.8`. One record must print the same
//! wherever it goes, so the value is widened from its shortest decimal
//! instead: read back as float32 it is the exact score.

/// The f64 of `x`'s shortest decimal (`0.8`, not `0.800000011920929`).
pub fn shortest(x: f32) -> f64 {
    // Display of f32 is the shortest decimal that reads back as `x`; a
    // non-finite value has none and keeps its (equally non-finite) f64.
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// `#[serde(serialize_with = "...")]` for an `Option<f32>`.
pub fn serialize_opt<S: serde::Serializer>(x: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(v) => s.serialize_some(&shortest(*v)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_through_a_value_and_a_string() {
        for x in [0.8f32, 0.7, 0.98908275, 1.0, 0.0, -0.25] {
            // The f32 written straight to a string ...
            let direct = serde_json::to_string(&x).unwrap();
            // ... and through a Value (widened to f64) print the same.
            let via_value = serde_json::to_value(shortest(x)).unwrap().to_string();
            assert_eq!(via_value, direct, "{x}");
            assert_eq!(via_value.parse::<f32>().unwrap(), x);
        }
        // Without it the widening shows.
        assert_eq!(
            serde_json::to_value(0.8f32).unwrap().to_string(),
            "0.800000011920929"
        );
        assert!(shortest(f32::NAN).is_nan());
    }
}
