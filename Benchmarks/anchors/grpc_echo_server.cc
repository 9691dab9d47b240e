// Hayon benchmark anchor: a gRPC C++ echo server built on the callback
// generic service API (no protobuf, no generated code).
//
// Every method is answered the same way: the first request message is read
// as raw bytes (grpc::ByteBuffer) and written back unchanged together with
// status OK (message + trailers in one batch, i.e. unary semantics).
//
// Listens on 127.0.0.1:0 (or the address in argv[1]) with insecure
// credentials, prints exactly one line "listening on 127.0.0.1:PORT" on
// stdout, and runs until SIGINT/SIGTERM, then shuts down cleanly.
//
// Build: g++ -O2 -std=c++17 grpc_echo_server.cc -o grpc_echo_server \
//            $(pkg-config --cflags --libs grpc++ grpc)

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

namespace {

// One reactor per RPC. Lifetime: created by CreateReactor, deleted in OnDone.
class EchoReactor final : public grpc::ServerGenericBidiReactor {
 public:
  EchoReactor() { StartRead(&payload_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Client half-closed (or the call was cancelled) without sending a
      // message: nothing to echo.
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "expected one request message"));
      return;
    }
    StartWriteAndFinish(&payload_, grpc::WriteOptions(), grpc::Status::OK);
  }

  void OnWriteDone(bool /*ok*/) override {}
  void OnCancel() override {}
  void OnDone() override { delete this; }

 private:
  grpc::ByteBuffer payload_;
};

class EchoService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* /*ctx*/) override {
    return new EchoReactor();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const std::string host = "127.0.0.1";
  const std::string addr = argc > 1 ? argv[1] : host + ":0";

  // Block the termination signals in this thread before any gRPC thread is
  // created so that every thread inherits the mask; the main thread then
  // collects them synchronously with sigwait().
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) {
    std::cerr << "pthread_sigmask failed" << std::endl;
    return 1;
  }

  EchoService service;
  int selected_port = 0;

  grpc::ServerBuilder builder;
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(),
                           &selected_port);
  builder.RegisterCallbackGenericService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || selected_port == 0) {
    std::cerr << "failed to listen on " << addr << std::endl;
    return 1;
  }

  // Report the address actually bound (host part of argv[1] if given).
  std::string shown_host = host;
  if (argc > 1) {
    const std::string a = argv[1];
    const auto colon = a.rfind(':');
    if (colon != std::string::npos && colon > 0) shown_host = a.substr(0, colon);
  }
  std::printf("listening on %s:%d\n", shown_host.c_str(), selected_port);
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  std::cerr << "grpc_echo_server: signal " << sig << ", shutting down"
            << std::endl;

  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  return 0;
}
