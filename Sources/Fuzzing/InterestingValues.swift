/// Values that sit on the edges parsers get wrong: zero, signs, the limits of Int32, Int64 and
/// Double's exact integers, overflowing and non-finite floats.
public enum InterestingValues {
    public static let integers: [Int64] = [
        0, 1, -1, 2, 7, 8, 255, 256, 65535, 65536, Int64(Int32.max), Int64(Int32.max) + 1, Int64(UInt32.max), 1 << 32,
        1 << 40, 1 << 53, (1 << 53) + 1, 1 << 62, Int64.max, Int64.min, -(1 << 31),
    ]

    /// Number literals as JSON text (some deliberately not JSON).
    public static let numberLiterals: [String] =
        integers.map(String.init) + [
            "9223372036854775808", "18446744073709551616", "1e12", "1e9", "1e308", "1e309", "-1e308", "1e-320", "0.5", "3.7",
            "-0", "-0.0", "1e400", "NaN", "Infinity", "-Infinity", "0x10", "00", "1.", ".5", "+1", "2147483647.0",
        ]

    /// String literals as JSON text (with quotes), plus a few that are not strings at all.
    public static let stringLiterals: [String] = [
        "\"\"", "\"NaN\"", "\"nan\"", "\"inf\"", "\"-1\"", "\"\\u0000\"", "\"\\ud800\"", "\"é\"", "\"e\\u0301\"", "\"日本語\"", "\"🙂\"",
        "\"" + String(repeating: "a", count: 4096) + "\"", "\"\\\"\"", "\"F32\"", "\"I64\"", "\"BF16\"", "\"BOOL\"", "\"gpt_neox\"",
        "\"bloom\"", "\"gpt2\"", "\"BPE\"", "\"WordPiece\"", "\"ByteLevel\"", "\"Sequence\"", "\"Split\"", "\"(\"", "\"[\"", "\"\\\\\"",
        "\"(a|a)*b\"", "\".*.*.*.*.*x\"",
    ]

    /// Whole values of other kinds, to put where a number or string was.
    public static let valueLiterals: [String] = ["null", "true", "false", "[]", "{}", "[0]", "[-1]", "[1, 2]", "{\"a\": 1}", "[[]]", "[null]"]
}
