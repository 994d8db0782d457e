using System.Text.Json.Serialization;

namespace AgentIdentity;

/// <summary>The source-generated (AOT- and trim-safe) serializer of the issuer's wire records; both ends use it.</summary>
/// <remarks>Members are matched case-sensitively, unknown members are ignored, and <see langword="null"/> members are not written.</remarks>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(IssuerEnrollRequest))]
[JsonSerializable(typeof(IssuerRenewRequest))]
[JsonSerializable(typeof(IssuerRenewExpiredRequest))]
[JsonSerializable(typeof(IssuerDelegateRequest))]
[JsonSerializable(typeof(IssuerIssuanceResponse))]
[JsonSerializable(typeof(IssuerJoinTokenRequest))]
[JsonSerializable(typeof(IssuerJoinTokenResponse))]
[JsonSerializable(typeof(IssuerRevokeRequest))]
[JsonSerializable(typeof(IssuerRevokeResponse))]
[JsonSerializable(typeof(IssuerStatusResponse))]
[JsonSerializable(typeof(IssuerProblem))]
internal sealed partial class IssuerJsonContext : JsonSerializerContext;
