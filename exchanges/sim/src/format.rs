//! Number formatting as the venue prints it: decimals as fixed-precision strings
//! (`"0.10000000"`), never floats.

use rust_decimal::Decimal;

/// `value` with exactly `dp` decimal places (rounded half away from zero if longer).
pub(crate) fn fixed(value: Decimal, dp: u32) -> String {
    let mut value = value;
    value.rescale(dp);
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn fixed_pads_and_rounds() {
        let cases = [
            (dec!(0.1), 8, "0.10000000"),
            (dec!(30000), 8, "30000.00000000"),
            (dec!(0), 8, "0.00000000"),
            (dec!(1.123456785), 8, "1.12345679"),
            (dec!(-2.5), 2, "-2.50"),
            (dec!(12.5), 0, "13"),
        ];
        for (value, dp, expected) in cases {
            assert_eq!(fixed(value, dp), expected);
        }
    }
}
