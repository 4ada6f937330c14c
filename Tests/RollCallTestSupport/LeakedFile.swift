import Foundation

/// Runs `body` while this process holds a file opened without close-on-exec, as SwiftNIO opens its
/// sockets: a child started meanwhile would inherit it unless it is started to close what it
/// inherits. `body` gets the file's path, to look for among a child's descriptors.
public func withFileOpenedWithoutCloseOnExec<T>(_ body: (String) async throws -> T) async throws -> T {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("rollcall-leak-\(UUID().uuidString)")
    let descriptor = open(file.path, O_CREAT | O_WRONLY, 0o600)
    guard descriptor >= 0 else { throw CannotOpen(path: file.path, code: errno) }
    defer {
        close(descriptor)
        try? FileManager.default.removeItem(at: file)
    }
    return try await body(file.path)
}

struct CannotOpen: Error, CustomStringConvertible {
    let path: String
    let code: Int32
    var description: String { "cannot open \(path): \(String(cString: strerror(code)))" }
}
