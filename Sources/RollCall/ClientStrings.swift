extension String {
    /// At most `limit` bytes of UTF-8, cut at a Unicode scalar boundary: a client's string stored
    /// or published as-is, however many combining marks its characters carry.
    public func truncated(toUTF8Bytes limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var bytes = 0
        var scalars = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            let size = UTF8.width(scalar)
            guard bytes + size <= limit else { break }
            bytes += size
            scalars.append(scalar)
        }
        return String(scalars)
    }
}
