"""The Shapes world of `shapes.md`, in one place: the renderer, its splits and captions (`world`), the
clip dataset (`world.ShapesDataset`), reading a video back from pixels (`reader`), judging every frame
(`clean_frames`), quality along a rollout (`rollout`), temporal quality (`temporal`), prompt following
per split (`evaluate`) and its report (`report`). Generic video metrics live in `vidtok.eval`."""
