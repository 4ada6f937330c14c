extension StringProtocol {
    /// The text without leading or trailing whitespace, as operators type lists and durations.
    func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
