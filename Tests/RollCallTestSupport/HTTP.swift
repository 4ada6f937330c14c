import Foundation
import NIOCore
import NIOPosix

/// A minimal HTTP/1.1 client over a plain socket: enough to see statuses and bodies as a client would,
/// upgrade requests included.
enum HTTP {
    static func request(port: Int, method: String, path: String, token: String?, headers: [String: String], body: String? = nil) async throws -> (
        status: Int, body: String
    ) {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: close"]
        if let token { lines.append("Authorization: Bearer \(token)") }
        for (name, value) in headers { lines.append("\(name): \(value)") }
        if let body {
            lines.append("Content-Type: application/json")
            lines.append("Content-Length: \(body.utf8.count)")
        }
        let request = lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? "")
        let response = try await exchange(port: port, request: request)
        guard let headerEnd = response.range(of: "\r\n\r\n") else { return (0, response) }
        let statusLine = response[..<headerEnd.lowerBound].split(separator: "\r\n").first ?? ""
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        let head = response[..<headerEnd.lowerBound].lowercased()
        var payload = String(response[headerEnd.upperBound...])
        if head.contains("transfer-encoding: chunked") { payload = dechunk(payload) }
        return (status, payload)
    }

    /// Writes `request` as given (several pipelined requests, say) and returns all the hub answers.
    static func exchange(port: Int, request: String) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        // A hub that never answers fails the test instead of stalling the run.
        let deadline = channel.channel.eventLoop.scheduleTask(in: .seconds(60)) { channel.channel.close(promise: nil) }
        defer { deadline.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var received = ByteBuffer()
            for try await var chunk in inbound {
                received.writeBuffer(&chunk)
                // An accepted upgrade keeps the connection open: its head is all there is to read.
                let text = String(buffer: received)
                if text.hasPrefix("HTTP/1.1 101"), text.contains("\r\n\r\n") { break }
            }
            return String(buffer: received)
        }
    }

    private static func dechunk(_ body: String) -> String {
        var output = ""
        var rest = Substring(body)
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let bytes = rest[start...].utf8.prefix(size)
            output += String(decoding: bytes, as: UTF8.self)
            rest = rest[rest.utf8.index(start, offsetBy: size)...].dropFirst(2)
        }
        return output
    }
}
