"""The archiver (DESIGN §7): week files compressed, uploaded to the object store, verified, recorded there,
and local copies beyond the last few weeks purged; restore brings a week back for history reads."""
