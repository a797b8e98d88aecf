"""The provider fakes' parts: what describes a provider (`profile`), and one module per
group of providers with their profiles and the ways their APIs differ from OpenAI's.

`tests/providers.py` puts them together: the registry (`PROFILES`, `BY_NAME`) and
`ProviderServer`, the one fake that serves any profile.
"""
