import Foundation

/// Splits a migration file into the statements PostgreSQL's extended protocol takes one at a time.
///
/// Knows enough SQL lexing to keep `;` inside quotes, dollar-quoted bodies and comments.
public enum SQLScript {
    public static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var index = script.startIndex

        func flush() {
            let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty, !isOnlyComments(trimmed) { statements.append(trimmed) }
            current = ""
        }

        while index < script.endIndex {
            let rest = script[index...]
            if rest.hasPrefix("--") {
                let end = rest.firstIndex(of: "\n") ?? script.endIndex
                current += script[index..<end]
                index = end
            } else if rest.hasPrefix("/*") {
                let end = rest.range(of: "*/")?.upperBound ?? script.endIndex
                current += script[index..<end]
                index = end
            } else if let quote = rest.first, quote == "'" || quote == "\"" {
                let afterOpen = script.index(after: index)
                let end = script[afterOpen...].firstIndex(of: quote).map { script.index(after: $0) } ?? script.endIndex
                current += script[index..<end]
                index = end
            } else if rest.hasPrefix("$"), let tag = dollarTag(rest) {
                let afterTag = script.index(index, offsetBy: tag.count)
                let end = script[afterTag...].range(of: tag)?.upperBound ?? script.endIndex
                current += script[index..<end]
                index = end
            } else if rest.first == ";" {
                flush()
                index = script.index(after: index)
            } else {
                current.append(script[index])
                index = script.index(after: index)
            }
        }
        flush()
        return statements
    }

    /// `$$` or `$name$` at the start of `text`, if it opens a dollar-quoted string.
    private static func dollarTag(_ text: Substring) -> String? {
        var tag = "$"
        for character in text.dropFirst() {
            if character == "$" { return tag + "$" }
            guard character.isLetter || character.isNumber || character == "_" else { return nil }
            tag.append(character)
        }
        return nil
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
    }
}
