"""Settings in one place: defaults, overridden by askpanel.toml, overridden by ASKPANEL_* variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Every knob askpanel has. Each field maps to ASKPANEL_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="ASKPANEL_", toml_file="askpanel.toml", extra="ignore")

    home: Path = Path(".askpanel")
    chroma_url: str = ""  # e.g. http://127.0.0.1:8000 for a shared `chroma run` server
    collection: str = "askpanel"
    corpus: Path = Path("corpus")

    embed_dtype: Literal["auto", "bfloat16", "float32"] = "auto"  # auto: bfloat16 only where the CPU has it
    embed_batch_size: int = 64
    chunk_words: int = 160  # target passage length; MiniLM reads at most 256 word pieces
    max_file_mb: float = 50.0
    ingest_nice: int = (
        10  # `askpanel ingest` runs at this niceness, so a server answering on the same cores comes first
    )

    top_k: int = 8  # passages handed to the composer
    min_score: float = 0.38  # refusal threshold on the evidence score; `askpanel eval` suggests a calibrated value
    refresh_seconds: float = 1.0  # how often an answering process looks for ingests by others
    cache_index: bool = True  # keep the keyword index under home/index, so a restart loads it

    llm: Literal["", "openai", "ollama"] = ""
    llm_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 30.0

    admin_password: str = ""
    auth: str = ""  # user:password to guard the whole web app
    max_upload_mb: float = 20.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def uploads_path(self) -> Path:
        return self.home / "uploads"

    @property
    def feedback_path(self) -> Path:
        return self.home / "feedback.sqlite3"


def load_settings(**overrides: object) -> Settings:
    """Build settings; keyword overrides beat the environment and askpanel.toml."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
