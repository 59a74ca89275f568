"""Creating a site folder (``plc-integrity init``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from integrity.errors import ConfigError
from integrity.inventory import SITE_FILE, Site, load_site


def site_template() -> str:
    return resources.files("integrity").joinpath("templates/site.toml").read_text("utf-8")


def init_site(root: str | Path, *, state_folder: Path | None = None) -> Site:
    """Create site.toml, trust/, devices/, state/ and the store in ``root``,
    and sign the first checkpoint (creating this host's checkpoint key in
    ``state_folder``, default: the per-user state folder, see
    ``baselines.localstate``).

    Refuses to touch a folder that already has a site.toml, so an existing
    site's settings and history are never overwritten.
    """
    from baselines.checkpoint import Checkpoint
    from baselines.store import Store  # the store needs the site's paths first

    root = Path(root)
    if (root / SITE_FILE).exists():
        raise ConfigError("a site already exists here; nothing was changed",
                          file=str(root / SITE_FILE))
    try:
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("trust", "devices", "state"):
            (root / sub).mkdir(exist_ok=True)
        (root / SITE_FILE).write_text(site_template(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot create the site: {exc.strerror}", file=str(root)) from exc
    site = load_site(root)
    with Store.open(site.store_url, heads_path=site.heads_path,
                    checkpoint=Checkpoint.for_site(root, state_folder=state_folder)) as store:
        store.sign_checkpoint()
    return site
