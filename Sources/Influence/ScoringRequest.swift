import Checkpoints
import Curvature

/// One stage of a scoring run: a model directory, the factors fitted with it, and its damping.
public struct ScoringStage: Sendable, Equatable {
    /// The model directory (Hugging Face layout, with tokenizer.json).
    public var model: String
    /// The factors directory from `FactorFitter`/`FactorStore`; optional when the method needs no
    /// factors (GDP), where it only gives the attention blocks of the layouts.
    public var factors: String?
    /// This stage's damping; nil takes the request's.
    public var damping: Damping?

    public init(model: String, factors: String? = nil, damping: Damping? = nil) {
        self.model = model
        self.factors = factors
        self.damping = damping
    }
}

/// What to score and how (DESIGN §3, §5): the queries and training documents, which models give
/// their gradients, and the preconditioner between them. `ScoringSession` runs it.
public struct ScoringRequest: Sendable {
    public enum Stages: Sendable {
        /// One model gives the queries' and the documents' gradients.
        case single(ScoringStage)
        /// ⟨(G_ft+λ_ft I)⁻¹∇f_ft(query), (G_pt+λ_pt I)⁻¹∇L_pt(document)⟩ over the shared backbone.
        /// Without `preconditionPretrained`, (G_pt + λI)⁻¹ is left out, as the paper's published code did.
        case multi(finetuned: ScoringStage, pretrained: ScoringStage, preconditionPretrained: Bool = true)
    }

    public var stages: Stages
    /// JSON Lines queries: {"id", "prompt", "completion"}, {"id", "text"}, or a classifier's {"id", "text", "label"}.
    public var queries: String
    /// JSON Lines training documents: {"id", "text"}.
    public var train: String
    /// The damping of every stage that gives none of its own.
    public var damping: Damping
    public var dampingScope: DampingScope
    public var method: PreconditionerMethod
    public var modules: ModuleSelection
    /// Keep only the k best documents per query (`ScoreResults.ranked`); nil keeps the whole matrix.
    public var topK: Int?
    /// Also report each module's contribution.
    public var perModule: Bool
    /// Compress each preconditioned query gradient to this rank (see `InfluenceScorer`).
    public var queryRank: Int?
    /// Documents (and queries) per forward/backward pass.
    public var batchSize: Int
    /// Cut sequences to this many tokens; nil: each model's context.
    public var maxSequenceLength: Int?
    /// Wrap each query's prompt in the query model's chat template (as the user's turn).
    public var chat = false
    /// Score only this shard's documents (`ShardSpec.documents(of:batchSize:)`).
    public var shard = ShardSpec.whole
    /// Bytes scoring may use: the modules are scored in groups that fit, one pass over the
    /// documents each (`ScoreMemoryPlan`; the same scores); nil: all modules in one pass.
    public var maxMemory: Int?
    /// Batches of documents scored at once, one thread each (the same scores for every count;
    /// each thread holds its own batch's activations).
    public var threads = 1
    /// `--method cg`: the JSON Lines data whose Gauss–Newton matrix G is (nil: the fitting data
    /// recorded in the factors, when factors are given).
    public var curvatureData: String?
    /// `--method cg`: the relative residual each solve reaches, and its iteration limit.
    public var cgTolerance = 1e-5
    public var cgIterations = 1000
    /// `--method cg` with factors: precondition the solves with EK-FAC (preconditioned CG; the
    /// same solution to the same tolerance; fewer iterations when the factors approximate G well).
    /// False: plain CG.
    public var cgPreconditioned = false
    /// `--method lissa`: steps per estimate, the scale above G's largest eigenvalue, and estimates averaged.
    public var lissaDepth = 1000
    public var lissaScale = 10.0
    public var lissaRepeats = 1
    /// `--method arnoldi`: Arnoldi iterations and the eigenpairs kept.
    public var arnoldiIterations = 200
    public var arnoldiRank = 50
    /// `--method arnoldi`: a safetensors file of the eigenpairs, read when it exists (and was made
    /// for the same model, curvature data, modules and settings), else written.
    public var arnoldiStore: String?
    /// `--method trak`: the ensemble's other models (the stage's model is the first), the data
    /// whose projected gradients form the kernel (nil: the training documents scored), and the
    /// projection's length. The projections are seeded with `estimatorSeed`.
    public var trakModels: [String] = []
    public var trakData: String?
    public var trakDimension = 2048
    /// `--method trak`: a directory of each model's inverse kernel, read when made for the same
    /// settings, else written (the featurisation of the kernel data is then done once).
    public var trakStore: String?
    /// The random start of Arnoldi, the batch order of LiSSA and TRAK's projections.
    public var estimatorSeed: UInt64 = 0
    /// One-line progress of long one-time work (Arnoldi's iterations).
    public var log: @Sendable (String) -> Void = { _ in }

    public init(stages: Stages, queries: String, train: String, damping: Damping = .absolute(1e-4), dampingScope: DampingScope = .module,
                method: PreconditionerMethod = .ekfac, modules: ModuleSelection = .all, topK: Int? = nil, perModule: Bool = false,
                queryRank: Int? = nil, batchSize: Int = 8, maxSequenceLength: Int? = nil) {
        self.stages = stages
        self.queries = queries
        self.train = train
        self.damping = damping
        self.dampingScope = dampingScope
        self.method = method
        self.modules = modules
        self.topK = topK
        self.perModule = perModule
        self.queryRank = queryRank
        self.batchSize = batchSize
        self.maxSequenceLength = maxSequenceLength
    }
}
