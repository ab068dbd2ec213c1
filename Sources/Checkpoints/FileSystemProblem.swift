import Foundation

/// Foundation's file-system errors (NSCocoaErrorDomain, NSPOSIXErrorDomain) printed as one
/// line naming the path and the reason, instead of a dump of the error's fields.
public enum FileSystemProblem {
    /// `error` as a one-line `InputError` if it is a file-system error; otherwise unchanged.
    public static func oneLine(_ error: Error, path given: String? = nil) -> Error {
        guard !(error is InputError || error is CheckpointError) else { return error }
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return error }
        let path = given ?? ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        return InputError("\(path ?? "file system"): \(reason(ns, path: path))")
    }

    private static func reason(_ ns: NSError, path: String?) -> String {
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code))).lowercased()
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))).lowercased() }
        switch ns.code {
        case NSFileWriteFileExistsError:
            return "a file is in the way (a directory is needed here)"
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "no such file or directory"
        case NSFileWriteNoPermissionError, NSFileReadNoPermissionError: return "permission denied"
        case NSFileWriteOutOfSpaceError: return "no space left on the device"
        case NSFileWriteVolumeReadOnlyError: return "read-only file system"
        default:
            return ns.localizedDescription.split(whereSeparator: \.isNewline).joined(separator: " ")
        }
    }
}
