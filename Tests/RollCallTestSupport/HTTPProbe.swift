import Foundation
/// The status of a GET, for hubs running as processes.
public enum HTTPProbe {
    public static func status(port: Int, path: String) async throws -> Int {
        try await HTTP.request(port: port, method: "GET", path: path, token: nil, headers: [:]).status
    }
}

extension HTTPProbe {
    /// The status a WebSocket handshake gets (101 when upgraded); the socket is dropped at once.
    public static func upgradeStatus(port: Int, token: String) async throws -> Int {
        let headers = [
            "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
        ]
        return try await HTTP.request(port: port, method: "GET", path: "/v1/ws", token: token, headers: headers).status
    }
}

extension HTTPProbe {
    /// POSTs a JSON body with a bearer token; the status and body as the client saw them.
    public static func post(port: Int, path: String, token: String, body: String) async throws -> (status: Int, body: String) {
        try await HTTP.request(port: port, method: "POST", path: path, token: token, headers: [:], body: body)
    }
}

extension HTTPProbe {
    /// One unlabelled figure from a hub's `/metrics`, as Prometheus would scrape it.
    public static func metric(port: Int, _ name: String) async throws -> Double? {
        let text = try await HTTP.request(port: port, method: "GET", path: "/metrics", token: nil, headers: [:]).body
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return Double(parts[1]) }
        }
        return nil
    }
}

extension HTTPProbe {
    /// Writes raw bytes as given and returns whatever the hub answers before it closes.
    public static func exchange(port: Int, request: String) async throws -> String {
        try await HTTP.exchange(port: port, request: request)
    }

    /// A process's resident memory, from /proc.
    public static func residentBytes(of pid: pid_t) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}
