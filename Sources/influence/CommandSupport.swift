import ArgumentParser
import Checkpoints
import Foundation
import Models
import Tokenization

/// Writes a line to standard error (warnings, progress), keeping standard output for results.
func warn(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
