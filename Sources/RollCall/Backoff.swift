/// How long to wait before trying again after consecutive failures: `initial` after the first,
/// doubling, never more than `maximum`.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The pause after `failures` failures in a row (1 for the first); zero before any.
    public func delay(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        // Doubling past 2^20 exceeds any sane maximum; stopping there keeps the arithmetic small.
        let doubled = initial * (1 << min(failures - 1, 20))
        return min(doubled, maximum)
    }
}
