// handoff_native: the thin, policy-free OS layer under src/os.ts (SPEC §1, §2.1, §6; DESIGN "Kernel flock, …").
// Each function does one syscall, or one tight fixed sequence (socket+bind+listen), turns a failing errno into a
// JS Error { code: errno name, errno: number, syscall }, and returns plain numbers/objects. No retries, polling,
// threads or callbacks: every policy (which errno is expected, what to retry) lives in src/os.ts.
//
// fd ownership:
//   - listenTcp / listenUnix create a socket and hand its fd to the caller, who owns it from then on and closes it
//     with closeFd. It is created SOCK_CLOEXEC (never leaks through exec except when placed in a child's stdio
//     slot by spawn, which dup2s it) and left in blocking mode; it is never registered with libuv, so this process
//     never accepts on it. On failure inside the sequence the half-made socket is closed here (and a Unix path it
//     bound is unlinked) before the error is thrown: the caller owns nothing.
//   - closeInheritedFds closes fds this process inherited without close-on-exec; it owns nothing afterwards.
//   - Every other function borrows the fd it is given and never closes it, except closeFd, which closes it.

#include <napi.h>
#include <uv.h>

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

// The pidfd syscalls by number: glibc wrappers exist only since 2.36, and the numbers are the same on every
// architecture (they were added after the syscall tables were unified).
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// Builds the JS Error for a failed syscall: message "<syscall> failed: <strerror> (<CODE>)", plus code/errno/syscall
// like Node's own system errors. uv_err_name maps -errno to its name (libuv codes are negated errnos on Unix).
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  const char* name = uv_err_name(-err);
  std::string message = std::string(syscall) + " failed: " + std::strerror(err) + " (" + name + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, name));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall) {
  ErrnoError(env, err, syscall).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// True when argument i is an integral number in int32 range: NaN or 3.5 must never become fd 0 or 3.
bool IsInt(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) return false;
  double v = info[i].As<Napi::Number>().DoubleValue();
  return v == static_cast<double>(static_cast<int32_t>(v));
}

// flockExclusiveNonBlocking(fd) -> true when the lock is now held, false when another open file description
// holds it (EWOULDBLOCK). Any other errno throws.
Napi::Value FlockExclusiveNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) return ThrowType(env, "flockExclusiveNonBlocking(fd): fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return Napi::Boolean::New(env, true);
  int err = errno;
  if (err == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, err, "flock");
}

// peerCredentials(fd) -> { pid, uid, gid } of the process that connected a Unix socket (SO_PEERCRED).
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) return ThrowType(env, "peerCredentials(fd): fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return ThrowErrno(env, errno, "getsockopt");
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, cred.pid));
  result.Set("uid", Napi::Number::New(env, cred.uid));
  result.Set("gid", Napi::Number::New(env, cred.gid));
  return result;
}

// listenTcp(host, port, backlog) -> { fd, port }: socket(SOCK_CLOEXEC) + SO_REUSEADDR + bind + listen, then
// getsockname for the bound port (port 0 picks one). host is a numeric IPv4 or IPv6 address.
Napi::Value ListenTcp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !IsInt(info, 1) || !IsInt(info, 2)) {
    return ThrowType(env, "listenTcp(host, port, backlog): expected (string, number, number)");
  }
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  int backlog = info[2].As<Napi::Number>().Int32Value();

  struct sockaddr_storage addr;
  std::memset(&addr, 0, sizeof(addr));
  socklen_t addrLen;
  int family;
  auto* v4 = reinterpret_cast<struct sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<struct sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    addrLen = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    addrLen = sizeof(*v6);
  } else {
    return ThrowErrno(env, EINVAL, "inet_pton");
  }

  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  int one = 1;
  const char* failed = nullptr;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    failed = "setsockopt";
  } else if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), addrLen) != 0) {
    failed = "bind";
  } else if (listen(fd, backlog) != 0) {
    failed = "listen";
  } else if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &addrLen) != 0) {
    failed = "getsockname";
  }
  if (failed != nullptr) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, failed);
  }
  int boundPort = ntohs(family == AF_INET ? v4->sin_port : v6->sin6_port);
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, fd));
  result.Set("port", Napi::Number::New(env, boundPort));
  return result;
}

// listenUnix(path, backlog, mode) -> fd: socket(AF_UNIX, SOCK_CLOEXEC) + bind + chmod(path, mode) + listen.
// chmod runs before listen: until listen, a connect to the path is refused, so no peer can get in under the
// umask's mode. A path that does not fit sun_path (with its NUL) fails with ENAMETOOLONG before any syscall.
Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !IsInt(info, 1) || !IsInt(info, 2)) {
    return ThrowType(env, "listenUnix(path, backlog, mode): expected (string, number, number)");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int backlog = info[1].As<Napi::Number>().Int32Value();
  mode_t mode = static_cast<mode_t>(info[2].As<Napi::Number>().Uint32Value());

  struct sockaddr_un addr;
  std::memset(&addr, 0, sizeof(addr));
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return ThrowErrno(env, ENAMETOOLONG, "bind");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "bind");
  }
  const char* failed = nullptr;
  if (chmod(path.c_str(), mode) != 0) {
    failed = "chmod";
  } else if (listen(fd, backlog) != 0) {
    failed = "listen";
  }
  if (failed != nullptr) {
    int err = errno;
    close(fd);
    unlink(path.c_str());  // the path is the one we bound a moment ago
    return ThrowErrno(env, err, failed);
  }
  return Napi::Number::New(env, fd);
}

// isListeningSocket(fd) -> SO_ACCEPTCONN: true for a socket in listen(2) state; false for a non-socket (ENOTSOCK).
// Any other errno (EBADF for a closed fd) throws.
Napi::Value IsListeningSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) return ThrowType(env, "isListeningSocket(fd): fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0) {
    int err = errno;
    if (err == ENOTSOCK) return Napi::Boolean::New(env, false);
    return ThrowErrno(env, err, "getsockopt");
  }
  return Napi::Boolean::New(env, value != 0);
}

// closeInheritedFds(keep: number[]) -> count closed: every fd >= 3 in /proc/self/fd without FD_CLOEXEC and not in
// keep. libuv's and Node's own fds are CLOEXEC, so they survive. The fd numbers are collected first and the
// directory closed before anything is closed, so the directory's own fd is never closed under readdir; it is
// gone by the time fcntl runs (EBADF there just means "not open any more" and is skipped).
Napi::Value CloseInheritedFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) return ThrowType(env, "closeInheritedFds(keep): keep must be an array");
  Napi::Array keepArray = info[0].As<Napi::Array>();
  std::vector<int> keep;
  for (uint32_t i = 0; i < keepArray.Length(); i++) {
    Napi::Value v = keepArray.Get(i);
    if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() != v.As<Napi::Number>().Int32Value()) return ThrowType(env, "closeInheritedFds(keep): keep must contain only numbers");
    keep.push_back(v.As<Napi::Number>().Int32Value());
  }

  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return ThrowErrno(env, errno, "opendir");
  std::vector<int> fds;
  int readErr = 0;
  for (;;) {
    errno = 0;  // readdir returns NULL both at the end and on error; only errno tells them apart
    struct dirent* entry = readdir(dir);
    if (entry == nullptr) {
      readErr = errno;
      break;
    }
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    fds.push_back(std::atoi(entry->d_name));
  }
  closedir(dir);
  if (readErr != 0) return ThrowErrno(env, readErr, "readdir");

  int closed = 0;
  for (int fd : fds) {
    if (fd < 3) continue;
    bool kept = false;
    for (int k : keep) kept = kept || k == fd;
    if (kept) continue;
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) {
      if (errno == EBADF) continue;  // the directory's fd, already closed above
      return ThrowErrno(env, errno, "fcntl");
    }
    if ((flags & FD_CLOEXEC) != 0) continue;
    // Linux closes the fd even when close reports EINTR or EIO; count it either way.
    close(fd);
    closed++;
  }
  return Napi::Number::New(env, closed);
}

// closeFd(fd): close(2). EINTR is not an error on Linux (the fd is already released); anything else throws.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) return ThrowType(env, "closeFd(fd): fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (close(fd) != 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

// dupFd(fd) -> a new close-on-exec fd for the same open file description (fcntl F_DUPFD_CLOEXEC, lowest free
// fd >= 3). The caller owns and closes the new fd. Lets a daemon close its listener (Node's server.close()
// closes the fd it listened on) and listen again later on the same kernel socket.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) return ThrowType(env, "dupFd(fd): fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, copy);
}

// listenAgain(fd, backlog): listen(2) on a socket that is already listening, which on Linux only replaces
// its accept-queue limit. Any errno throws. (Whether the socket is listening is src/os.ts's check.)
Napi::Value ListenAgain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0) || !IsInt(info, 1)) return ThrowType(env, "listenAgain(fd, backlog): expected (number, number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int backlog = info[1].As<Napi::Number>().Int32Value();
  if (listen(fd, backlog) != 0) return ThrowErrno(env, errno, "listen");
  return env.Undefined();
}

// pidfdOpen(pid) -> a pidfd (close-on-exec) that names this very process for as long as the fd is open: no
// pid-reuse race. The caller owns it.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) return ThrowType(env, "pidfdOpen(pid): pid must be a number");
  long fd = syscall(SYS_pidfd_open, info[0].As<Napi::Number>().Int32Value(), 0);
  if (fd < 0) return ThrowErrno(env, errno, "pidfd_open");
  return Napi::Number::New(env, static_cast<double>(fd));
}

// pidfdGetfd(pidfd, targetFd) -> a close-on-exec duplicate, in this process, of fd `targetFd` of the process
// behind `pidfd` (needs ptrace rights over it). The caller owns the new fd.
Napi::Value PidfdGetfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0) || !IsInt(info, 1)) return ThrowType(env, "pidfdGetfd(pidfd, fd): expected (number, number)");
  long fd = syscall(SYS_pidfd_getfd, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), 0);
  if (fd < 0) return ThrowErrno(env, errno, "pidfd_getfd");
  return Napi::Number::New(env, static_cast<double>(fd));
}

// pidfdSendSignal(pidfd, signal): kill(2) through a pidfd, so it can only reach the process it names.
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0) || !IsInt(info, 1)) return ThrowType(env, "pidfdSendSignal(pidfd, signal): expected (number, number)");
  if (syscall(SYS_pidfd_send_signal, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), nullptr, 0) != 0) {
    return ThrowErrno(env, errno, "pidfd_send_signal");
  }
  return env.Undefined();
}

// pidfdExited(pidfd) -> whether the process has exited (its pidfd polls readable); never blocks.
Napi::Value PidfdExited(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) return ThrowType(env, "pidfdExited(pidfd): pidfd must be a number");
  struct pollfd p = {info[0].As<Napi::Number>().Int32Value(), POLLIN, 0};
  int n = poll(&p, 1, 0);
  if (n < 0) return ThrowErrno(env, errno, "poll");
  return Napi::Boolean::New(env, n > 0);
}

// socketName(fd) -> { family: 'inet' | 'inet6', address, port } or { family: 'unix', path } (getsockname),
// or { family: 'other' }. Throws for a non-socket (ENOTSOCK) and a closed fd.
Napi::Value SocketName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) return ThrowType(env, "socketName(fd): fd must be a number");
  struct sockaddr_storage addr;
  std::memset(&addr, 0, sizeof(addr));
  socklen_t len = sizeof(addr);
  if (getsockname(info[0].As<Napi::Number>().Int32Value(), reinterpret_cast<struct sockaddr*>(&addr), &len) != 0) {
    return ThrowErrno(env, errno, "getsockname");
  }
  Napi::Object result = Napi::Object::New(env);
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET || addr.ss_family == AF_INET6) {
    bool v4 = addr.ss_family == AF_INET;
    auto* a4 = reinterpret_cast<struct sockaddr_in*>(&addr);
    auto* a6 = reinterpret_cast<struct sockaddr_in6*>(&addr);
    inet_ntop(addr.ss_family, v4 ? static_cast<void*>(&a4->sin_addr) : static_cast<void*>(&a6->sin6_addr), text, sizeof(text));
    result.Set("family", Napi::String::New(env, v4 ? "inet" : "inet6"));
    result.Set("address", Napi::String::New(env, text));
    result.Set("port", Napi::Number::New(env, ntohs(v4 ? a4->sin_port : a6->sin6_port)));
  } else if (addr.ss_family == AF_UNIX) {
    auto* un = reinterpret_cast<struct sockaddr_un*>(&addr);
    size_t pathLen = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    std::string path(un->sun_path, strnlen(un->sun_path, pathLen));
    result.Set("family", Napi::String::New(env, "unix"));
    result.Set("path", Napi::String::New(env, path));
  } else {
    result.Set("family", Napi::String::New(env, "other"));
  }
  return result;
}

// sendDatagram(path, payload, fds) -> sends one datagram on a fresh AF_UNIX SOCK_DGRAM socket to `path`
// ("@name" is the abstract namespace), with `fds` attached (SCM_RIGHTS), then closes the socket. For
// sd_notify (NOTIFY_SOCKET). The fds stay the caller's.
Napi::Value SendDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsBuffer() || !info[2].IsArray()) {
    return ThrowType(env, "sendDatagram(path, payload, fds): expected (string, Buffer, number[])");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<char> payload = info[1].As<Napi::Buffer<char>>();
  Napi::Array fdArray = info[2].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < fdArray.Length(); i++) {
    Napi::Value v = fdArray.Get(i);
    if (!v.IsNumber()) return ThrowType(env, "sendDatagram: fds must be numbers");
    fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  struct sockaddr_un addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return ThrowErrno(env, ENAMETOOLONG, "sendmsg");
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addrLen = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return ThrowErrno(env, errno, "socket");
  struct iovec iov = {payload.Data(), payload.Length()};
  struct msghdr msg;
  std::memset(&msg, 0, sizeof(msg));
  msg.msg_name = &addr;
  msg.msg_namelen = addrLen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (fds.empty() ? 1 : fds.size())), 0);
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
  int err = errno;
  close(sock);
  if (sent < 0) return ThrowErrno(env, err, "sendmsg");
  return env.Undefined();
}

// setParentDeathSignal(signal): prctl(PR_SET_PDEATHSIG): the kernel sends `signal` to this process when its
// parent exits (0 turns it off).
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) return ThrowType(env, "setParentDeathSignal(signal): signal must be a number");
  if (prctl(PR_SET_PDEATHSIG, info[0].As<Napi::Number>().Int32Value(), 0, 0, 0) != 0) {
    return ThrowErrno(env, errno, "prctl");
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("flockExclusiveNonBlocking", Napi::Function::New(env, FlockExclusiveNonBlocking));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
  exports.Set("listenTcp", Napi::Function::New(env, ListenTcp));
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix));
  exports.Set("isListeningSocket", Napi::Function::New(env, IsListeningSocket));
  exports.Set("closeInheritedFds", Napi::Function::New(env, CloseInheritedFds));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("dupFd", Napi::Function::New(env, DupFd));
  exports.Set("listenAgain", Napi::Function::New(env, ListenAgain));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdGetfd", Napi::Function::New(env, PidfdGetfd));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("pidfdExited", Napi::Function::New(env, PidfdExited));
  exports.Set("socketName", Napi::Function::New(env, SocketName));
  exports.Set("sendDatagram", Napi::Function::New(env, SendDatagram));
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal));
  return exports;
}

}  // namespace

NODE_API_MODULE(handoff_native, Init)
