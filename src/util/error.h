// Error: the one exception type snapformer throws for bad input and bad files.
//
// Contract: every message names what is wrong and where (file, field, tensor,
// input line) so it can be printed as one line to a user. Errors are values at
// the edges: the CLI and the server catch Error and turn it into an exit code
// or an HTTP status; nothing inside the library catches and ignores it.
#pragma once

#include <stdexcept>
#include <string>

namespace snapformer {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown for requests that are well-formed but too large for the model
// (more tokens than positions, without truncation). Callers map it to 413.
class InputTooLongError : public Error {
 public:
  using Error::Error;
};

}  // namespace snapformer
