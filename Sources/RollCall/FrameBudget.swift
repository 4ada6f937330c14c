/// How much a connection may send: a token bucket for frames, and a limit on bad frames.
///
/// Pure: the caller passes the time, so every edge is a unit test.
public struct FrameBudget: Sendable {
    public enum Verdict: Sendable, Equatable {
        case accept
        /// Over the limit: answer `rate_limited`, keep the connection.
        case reject
        /// Far over the limit, or too many bad frames: answer `rate_limited` and close with 1008.
        case disconnect
    }

    let ratePerSecond: Double
    let burst: Double
    let maxBadFrames: Int
    /// Rejections in a row after which the connection is closed.
    let maxRejections: Int

    private var tokens: Double
    /// Frames allowed on top of the bucket after the hub held the socket unread (`held(for:)`).
    private var heldCredit: Double = 0
    /// The next frame is the first since the hold: its wait was the hold, not a pause.
    private var firstSinceHeld = false
    private var lastRefill: Duration?
    private var badFrames = 0
    private var rejectionsInARow = 0

    public init(ratePerSecond: Double = 50, burst: Double = 100, maxBadFrames: Int = 20, maxRejections: Int = 20) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.maxBadFrames = maxBadFrames
        self.maxRejections = maxRejections
        self.tokens = burst
    }

    /// A frame arrived at `now` (time since any fixed origin); `bad` when it could not be read.
    public mutating func admit(at now: Duration, bad: Bool = false) -> Verdict {
        if let lastRefill {
            let elapsed = Double((now - lastRefill).milliseconds) / 1000
            tokens = min(burst, tokens + max(0, elapsed) * ratePerSecond)
            // What was held arrives back to back; a pause means it has all been read.
            if elapsed > 1, !firstSinceHeld { heldCredit = 0 }
            firstSinceHeld = false
        }
        lastRefill = now
        if bad {
            badFrames += 1
            if badFrames > maxBadFrames { return .disconnect }
        }
        if heldCredit >= 1 {
            heldCredit -= 1
            rejectionsInARow = 0
            return .accept
        }
        guard tokens >= 1 else {
            rejectionsInARow += 1
            return rejectionsInARow >= maxRejections ? .disconnect : .reject
        }
        tokens -= 1
        rejectionsInARow = 0
        return .accept
    }

    /// The hub did not read this socket for `duration` (its writer was backlogged). What the client
    /// sent meanwhile arrives at once when reading resumes: on top of the bucket, as many frames as
    /// the rate allows over that time, until the frames stop coming back to back.
    public mutating func held(for duration: Duration) {
        heldCredit += Double(duration.milliseconds) / 1000 * ratePerSecond
        firstSinceHeld = true
    }
}
