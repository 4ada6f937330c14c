import RollCallHub

/// Tokens signed with the test secret, for hubs started as processes.
public enum TestTokens {
    public static func authority(secret: String = TestHub.secret) async throws -> TokenAuthority {
        try await TokenAuthority(secret: secret)
    }
}
