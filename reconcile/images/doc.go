// Package images is berth's image pipeline, the part of a converge that
// comes before the containers' plan: EnsureImages pulls and builds what
// the services need, by their pull policies (or up --pull/--build/
// --no-build), and returns the image IDs that reconcile's Diff compares
// with the containers' (a rebuilt image recreates its containers). Build,
// PullImages and PushImages are the build, pull and push commands,
// BuildAndPush is deploy --build's; RemovePlan is image rm's. Every pull,
// build, push and removal is a plan step (reconcile.OpPullImage,
// OpBuildImage, OpPushImage, OpRemoveImage) applied by reconcile.Apply with
// its one bound, so --dry-run prints it (ImageOptions.OnPlan) and runs
// nothing. BuildTargets is what build --print shows; DownImages picks the
// images down --rmi removes.
//
// BuildContext makes the tar stream of a build context as the docker CLI
// sends it to the classic builder (.dockerignore, a generated Dockerfile
// for dockerfile_inline), writing the tree with reconcile/hosttar;
// BuildIgnore gives a context's .dockerignore patterns to watch.
//
// It depends on reconcile for the progress vocabulary (Status,
// DefaultParallel) and the observed state; reconcile does not import it.
// It knows the runtime only through the service contract (the optional
// service.ImageTransfer and service.Builder).
package images
