package dev.tollgate.proxy.upstream;

/**
 * What an upstream connection tells the exchange that uses it. Called on the connection's event loop.
 */
public interface UpstreamEvents {
    /** An HTTP object from the upstream; ownership passes to the callee. */
    void onUpstreamMessage(Object msg);

    /** The end of one read loop: flush and decide whether to read again. */
    void onUpstreamReadComplete();

    /** The connection closed (by either side). */
    void onUpstreamClosed();

    /** No byte arrived within the idle timeout. */
    void onUpstreamIdle();

    /** The connection failed; it is being closed. */
    void onUpstreamFailure(Throwable cause);
}
