using System.Net;
using System.Net.Http;

namespace AgentIdentity;

/// <summary>Wraps a response body so that its certificate generation stays alive (is not disposed) until the body is disposed.</summary>
internal sealed class GenerationTrackedContent : HttpContent
{
    private readonly HttpContent _inner;
    private ClientCertificateGeneration? _generation;

    public GenerationTrackedContent(HttpContent inner, ClientCertificateGeneration generation)
    {
        _inner = inner;
        _generation = generation;
        // NonValidated: copies the raw values without parsing them or allocating a list per header (about 330 B less per response).
        foreach (var header in inner.Headers.NonValidated)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        _inner.CopyToAsync(stream, context);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        _inner.CopyToAsync(stream, context, cancellationToken);

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        _inner.CopyTo(stream, context, cancellationToken);

    protected override Task<Stream> CreateContentReadStreamAsync() => _inner.ReadAsStreamAsync();

    protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) => _inner.ReadAsStreamAsync(cancellationToken);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) => _inner.ReadAsStream(cancellationToken);

    protected override bool TryComputeLength(out long length)
    {
        length = _inner.Headers.ContentLength ?? 0;
        return _inner.Headers.ContentLength.HasValue;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Interlocked.Exchange(ref _generation, null)?.Release();
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
