package dev.tollgate.proxy.control;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * Refuses every gRPC call whose {@code authorization} metadata is not {@code Bearer <admin token>}
 * (constant-time comparison). With no token configured every call passes.
 *
 * <p>Threading: immutable, thread-safe.
 */
public final class AdminTokenInterceptor implements ServerInterceptor {
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final byte[] expected;

    public AdminTokenInterceptor(String adminToken) {
        this.expected = adminToken == null ? null : ("Bearer " + adminToken).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                      ServerCallHandler<Q, R> next) {
        if (expected != null) {
            String presented = headers.get(AUTHORIZATION);
            byte[] p = presented == null ? new byte[0] : presented.getBytes(StandardCharsets.UTF_8);
            if (!MessageDigest.isEqual(expected, p)) {
                call.close(Status.UNAUTHENTICATED.withDescription("the admin token is required"), new Metadata());
                return new ServerCall.Listener<>() {
                };
            }
        }
        return next.startCall(call, headers);
    }
}
